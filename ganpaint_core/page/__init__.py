"""The app without gradio: the page's actions and values, sessions, jobs, share links, hosting.

``page.EditPage`` turns user actions into :class:`~ganpaint_core.page.values.PageUpdate` values that ``app.py``
binds to components; everything here is testable without a server. Imports the layers below, never ``cli``
or ``bench``.
"""
