"""One module per dashboard page (run by ``st.navigation`` from app/main.py)."""
