"""The clinician app's logic: form spec, labels, API client, batch scoring, pages.

``streamlit/app.py`` only calls :func:`readmission.ui.pages.main`; everything the
app shows is derived from :mod:`readmission.schema` and obtained from the
inference API (the app never loads a model).
"""
