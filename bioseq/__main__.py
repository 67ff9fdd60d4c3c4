"""``python -m bioseq`` runs the command-line interface (also under torchrun)."""

from bioseq.cli.main import main

if __name__ == "__main__":
    main()
