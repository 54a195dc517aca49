"""The clinician app: ``streamlit run streamlit/app.py`` (the logic lives in ``readmission.ui``)."""

from readmission.config import get_settings
from readmission.logs import configure_logging
from readmission.ui.pages import main

configure_logging(get_settings().log_level, get_settings().log_format)
main()
