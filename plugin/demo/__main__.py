"""``python -m gemini_vision.demo [--samples 12] [--model gemini-2.5-flash] [--app]``."""

import sys

from gemini_vision.adapters.demo import main

if __name__ == "__main__":
    sys.exit(main())
