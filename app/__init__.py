"""The dsrsd Streamlit dashboard: ``streamlit run app/main.py``."""
