"""Where writer extends Textual's internals: one place to re-check on a Textual upgrade.

Written against Textual 8.2 (pyproject pins >=8.2,<8.3). What each piece replaces upstream:
- driver: subclasses `textual.drivers.linux_driver.LinuxDriver` (its input thread, built on
  `textual._xterm_parser.XTermParser`) so the events parsed from one read reach the App in one
  callback, and a terminal that goes away raises SIGHUP instead of spinning.
- document: subclasses `textual.document._document.Document` and `_wrapped_document.
  WrappedDocument` to cache the joined text and the wrapped height between edits.
- bindings: `App._check_bindings` is overridden in writer.ui.app and called from the editor
  (a private Textual API) so the editor sees keys first and global bindings still get their turn.
"""
