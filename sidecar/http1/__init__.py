"""Sans-IO HTTP/1.1 codec over httptools (llhttp) with our own strictness checks on top."""
