from holdcue.cli import main

main()
