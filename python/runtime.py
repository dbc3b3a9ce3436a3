"""mlx-serving runtime: JSON-RPC 2.0 over stdio (one JSON object per line).

    echo '{"jsonrpc":"2.0","id":1,"method":"runtime/info"}' | python python/runtime.py
"""

import logging
import os
import sys

# Claim stdout for the protocol before anything else can print to it: keep a
# private copy of fd 1 for the writer and point fd 1 (and sys.stdout) at stderr,
# so a stray print or a C library's output lands in the logs, never on the wire.
_protocol_fd = os.dup(1)
os.dup2(2, 1)
sys.stdout = sys.stderr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlx_serving import cpu_blas  # noqa: E402

cpu_blas.preload()  # before MLX is imported: its CPU products then run on OpenBLAS

from mlx_serving.app import main  # noqa: E402

if __name__ == "__main__":
    code = main(sys.argv[1:], protocol_fd=_protocol_fd)
    logging.shutdown()
    sys.stderr.flush()
    # Skip interpreter teardown: the reader thread may sit in a read of stdin,
    # and finalizing the stdin object under it aborts the process.
    os._exit(code)
