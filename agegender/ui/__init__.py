"""`agegender ui`: a local Gradio page to try the model on a photo or a webcam.

card: the limitations statement; uploads: reading uploads, the private temporary folder;
engine: model + detector + one analysis at a time, and the page's handlers; app: the Gradio page.

Only ``app`` uses Gradio, imported when the command runs; the rest is plain Python, testable
without the ``ui`` extra.

Privacy: uploads and webcam frames are decoded into memory and their temporary files deleted
at once; Gradio's own temporary folder is private to the process and removed on exit; no
flagging, no example caching, no run history, no telemetry. The server binds 127.0.0.1 unless
told otherwise, and is public only with ``--share``.
"""
