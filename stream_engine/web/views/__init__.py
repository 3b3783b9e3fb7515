"""One module per kind of page or API call; each holds :class:`~stream_engine.web.views.base.View` subclasses."""
