# A stand-in for a dev server: says it is ready, then serves nothing. Edit this file while
# `ctmux -f examples/watch.yaml up` runs: the daemon restarts `api`, then `client`.
import time

print("listening", flush=True)
while True:
    time.sleep(3600)
