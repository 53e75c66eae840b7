from drtool.cli import main

main()
