"""Pure market logic: no Django. The offline simulated exchange lives in `simulator`."""
