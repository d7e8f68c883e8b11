import sys

from aem_cli.main import main

sys.exit(main())
