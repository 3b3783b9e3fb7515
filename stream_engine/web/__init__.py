"""The WSGI application: routes, views and the one place errors become responses."""
