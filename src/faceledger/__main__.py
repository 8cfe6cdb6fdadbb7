from faceledger.cli.app import main

if __name__ == "__main__":  # worker processes are spawned and re-import this module
    main()
