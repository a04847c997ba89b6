"""`jobctl dash`: a Textual dashboard for on-call admins (Textual is imported only under here)."""
