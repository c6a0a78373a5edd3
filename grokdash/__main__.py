from grokdash.cli import main

main()
