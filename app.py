"""The comparison app: `python app.py`.

    python app.py [--artifacts artifacts] [--port 7860] [--expose] [--auth USER:PASSWORD]
                  [--max-batch-size 64] [--queue-size 256]

The app lives in the `webapp` package: `webapp/server.py` starts it and
`webapp/layout.py` lays out the page; this file runs the first.
"""

from webapp.server import main

if __name__ == "__main__":
    main()
