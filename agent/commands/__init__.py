"""The ``ticketbell`` commands, one module per group; ``agent.cli`` parses and dispatches."""
