"""``python -m minigen.data``: list the data sets, or download MNIST / Fashion-MNIST.

::

    python -m minigen.data list
    python -m minigen.data download mnist --root DIR     # DIR/mnist/*.gz, SHA-256 checked
    python -m minigen.data speech [--root DIR]           # spoken digits by espeak-ng (speech.py)
"""
import argparse
import sys

from . import describe_dataset, download_dataset, fetch, list_datasets


def main(argv=None):
    """Run the command line.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        Exit status: 0 on success, 1 on a failed download.
    """
    parser = argparse.ArgumentParser(prog="python -m minigen.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list the data set names")
    download_cmd = commands.add_parser("download", help="download IDX files with checksums")
    download_cmd.add_argument("name", choices=sorted(fetch.KNOWN_FILES))
    download_cmd.add_argument("--root", default=None, help="base folder (files go to ROOT/NAME); "
                              "default $MINIGEN_DATA, else ~/.cache/minigen")
    speech_cmd = commands.add_parser("speech", help="synthesise the spoken digits with espeak-ng (speech.py)")
    speech_cmd.add_argument("--root", default=None, help="base folder (the file goes to ROOT/speech); "
                            "default $MINIGEN_DATA, else ~/.cache/minigen")
    args = parser.parse_args(argv)
    if args.command == "speech":
        from .speech import build_speech
        try:
            print(f"speech: clips in {build_speech(args.root, progress=True)}")
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    if args.command == "list":
        for name in list_datasets():
            print(f"{name:14s} {describe_dataset(name)}")
        return 0
    try:
        folder = download_dataset(args.name, args.root, progress=True)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{args.name}: files in {folder}")
    if args.root is not None:
        print(f"use get_dataset({args.name!r}, root={args.root!r}) or set MINIGEN_DATA={args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
