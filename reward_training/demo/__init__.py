"""The built-in demo chat model: its tokenizer and the script that trains it (see assets/demo-chat/README.md)."""
