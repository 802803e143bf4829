from tradeopt_cli.main import app

app()
