"""Bottleneck analysis over completed traces: pure functions, no I/O.

``tree`` turns a trace's spans into a skew-corrected, clipped tree; ``critical`` walks its
critical path; ``retime`` re-evaluates it with some spans faster, removed or parallel (what-if);
``patterns`` finds n+1 calls, sequential fan-outs, retries and error origins in one trace;
``facts`` keeps what a window needs of a trace; ``report`` ranks an endpoint's bottlenecks;
``analyzer`` holds the windows and ``assembler`` buffers spans until a trace is complete.
"""
