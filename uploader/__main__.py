from uploader.cli import main

main()
