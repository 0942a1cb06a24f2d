"""A mule (--mule=leak_mule.py) that polls for work every 2 ms and keeps a
2.6 KB record of each poll in a list nobody trims: growth in a process that
serves no request."""
import time

POLLED = []


def poll():
    POLLED.append(bytes(2600))  # LEAK-LINE


while True:
    poll()
    time.sleep(0.002)
