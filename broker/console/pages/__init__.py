"""The console's pages, one module each: ``routes()`` lists its handlers."""
