"""Simulated homes for the tests, the demo and the benchmarks: a real MQTT broker and home hubs.

``broker`` starts Debian's mosquitto (or, for the demo only, amqtt from PyPI) on a free loopback
port with password authentication; ``hub`` is a Zigbee2MQTT home hub that speaks Zigbee2MQTT's
real topics, payloads, Home Assistant discovery and last will. No Home Assistant import here;
the hubs need ``paho-mqtt`` (pinned in requirements_test.txt).

In one process::

    with Broker.mosquitto(workdir) as broker, Hub(
        broker.host, broker.port, "lgh1203",
        username=broker.username, password=broker.password,
    ) as hub:
        hub.equipment()  # {"plug_entity": "switch.lgh1203_plug", ...} for the equipment step
        hub.set_power(0.0)
        hub.die()  # no DISCONNECT: the broker publishes the will

Many hubs in a child process (run from the repository root, or with it on ``PYTHONPATH``)::

    SIMULATORS_BROKER_PASSWORD=… python -m simulators.hub --port P --username U --count 50
    # prints "ready 50", then reads {"hub": "lgh7", "plug": false} lines; SIGKILL = 50 wills

or from Python, ``HubProcess(host, port, ["lgh1", "lgh2"], username=…, password=…)`` (``start``,
``command("lgh1", plug=False)``, ``kill()`` = SIGKILL, ``stop``). ``subscriber.Subscriber`` is a
dispatch board's subscriber in a child process (``poll()``, ``on(topic)``, ``next_message()``).
Child processes keep the real clock: paho's network thread breaks in a process whose clock a test
holds with ``freezer``.
"""
