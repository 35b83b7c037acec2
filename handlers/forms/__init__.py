"""The provisioning forms: the modal building blocks (``modal``), the flow every form follows
(``provisioning``), one module per form, and the CSV imports that create many at once."""
