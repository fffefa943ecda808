"""`python -m docsum ...`: the same command line as `docsum ...`."""

from docsum.cli import app

if __name__ == "__main__":
    app(prog_name="docsum")
