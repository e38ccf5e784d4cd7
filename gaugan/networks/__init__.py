"""Neural network modules only: no files, no Streamlit, no palettes."""
from .conditional import MRU, ClassConditionalGenerator
from .discriminator import MultiscaleDiscriminator, PatchDiscriminator
from .encoder import StyleEncoder
from .fast_generator import FastSPADEGenerator
from .generator import SPADEGenerator
from .patchgan import PatchGAN
from .segmenter import Segmenter
from .spade import SPADE, SPADEResnetBlock
from .unet import UnetGenerator

__all__ = ["SPADE", "SPADEResnetBlock", "SPADEGenerator", "FastSPADEGenerator", "StyleEncoder", "PatchDiscriminator", "MultiscaleDiscriminator", "Segmenter",
           "UnetGenerator", "PatchGAN", "ClassConditionalGenerator", "MRU"]
