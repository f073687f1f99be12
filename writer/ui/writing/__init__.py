"""The writing screen and the parts only it uses.

`screen.WritingScreen` composes the editor, the candidates panel and the status bar, and hands
each component what it needs (the editor, the panel, the session, a model getter, a notify
callable). The components: generation (requests and streamed candidates), probabilities (token
probabilities and swaps), saving (the draft session's autosave), filesync (an external file),
guard (a full or read-only store), branches, suggestion (the inline ghost text), editing keys,
page (column, focus mode), streaming (batching engine events into messages), session (the open
draft's saving as plain Python). None imports the screen.
"""
