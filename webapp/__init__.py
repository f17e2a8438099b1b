"""The Gradio comparison app: `layout` (the page and its events) and the views it shows.

`views` turns the loaded models' answers into tables, `thesis_views` the
results files of the measuring commands. Only this package imports Gradio.
"""
