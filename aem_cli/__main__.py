import sys

from aem_gym.cli.main import main

sys.exit(main())
