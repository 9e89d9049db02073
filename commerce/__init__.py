"""The embedded commerce service set that Bellwether measures: regions, zones, services,
their routers and the fault injector. Modelled on the commercetools resiliency paper.
"""
