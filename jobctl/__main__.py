from jobctl.cli.launch import main

main()
