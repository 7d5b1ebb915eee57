from tradebus.cli.main import main

main()
