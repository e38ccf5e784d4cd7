"""Neural network modules only: no files, no Streamlit, no palettes."""
from .discriminator import MultiscaleDiscriminator, PatchDiscriminator
from .encoder import StyleEncoder
from .fast_generator import FastSPADEGenerator
from .generator import SPADEGenerator
from .segmenter import Segmenter
from .spade import SPADE, SPADEResnetBlock

__all__ = ["SPADE", "SPADEResnetBlock", "SPADEGenerator", "FastSPADEGenerator", "StyleEncoder", "PatchDiscriminator", "MultiscaleDiscriminator", "Segmenter"]
