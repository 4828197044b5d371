"""HTTP routes, one module per resource; each is a FastAPI ``APIRouter``."""
