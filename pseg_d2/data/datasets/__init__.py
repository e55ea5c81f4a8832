"""Dataset registrations: importing this package registers every dataset in Detectron2's catalog."""
from . import register_synthetic  # noqa: F401
from . import register_voc  # noqa: F401
from . import register_pascal_context  # noqa: F401
from . import register_coco_object  # noqa: F401
from . import register_coco_stuff  # noqa: F401
