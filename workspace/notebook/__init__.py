"""The notebook façade: ``Workspace`` assembles the feed, the engine, the journal, the
server and the panels for a notebook user.  It sits above every other package (nothing
below imports it), so the engine stays free of the server and the widgets."""
