from commonworks.cli import main

main()
