from pycodecomplete.cli import main

raise SystemExit(main())
