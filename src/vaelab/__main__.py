from vaelab.workshop.cli import main

raise SystemExit(main())
