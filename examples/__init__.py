"""Runnable interop examples: train third-party MARL libraries against the FGAMCD environment.

Each module is a short script with a ``main(...)`` that the tests import with a tiny budget and an
``if __name__ == "__main__":`` command line (``python examples/<name>.py --help``).
"""
