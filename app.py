"""The comparison app: `python app.py [--artifacts artifacts] [--port 7860] [--expose] [--auth USER:PASSWORD]`.

The app lives in the `webapp` package (`webapp/layout.py`); this file starts it.
"""

from webapp.layout import main

if __name__ == "__main__":
    main()
