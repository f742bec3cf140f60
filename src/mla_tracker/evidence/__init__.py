"""Evidence packages: BagIt bags streamed into age files and back, treating every package
as hostile (the tar parser, limits and cleanup in `bagit/`, assembly in `package.py`).
Uses `crypto.age` for encryption; holds no keys of its own."""
