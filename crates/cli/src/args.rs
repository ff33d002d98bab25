//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "clipneurons",
    version,
    about = "A microscope for the neurons of CLIP models"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Clone)]
pub struct ModelArg {
    /// CLIP checkpoint: OpenAI `.pt` (TorchScript), a `torch.save` state dict, open_clip `.safetensors` or an
    /// HF-transformers CLIP `model.safetensors`; the format is detected from the content. Default: the built-in
    /// model trained on the synthetic world (`clipneurons info` describes it).
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct ImageInput {
    /// Image files (any format the `image` crate decodes; grey and RGBA are converted to RGB).
    #[arg(long = "image", num_args = 1.., conflicts_with = "pixels")]
    pub images: Vec<PathBuf>,
    /// A safetensors file with a tensor `pixels` [N,3,H,W], as written by `clipneurons preprocess`.
    #[arg(long)]
    pub pixels: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Tokenize text with CLIP's BPE (context 77, SOT 49406, EOT 49407).
    Tokenize {
        /// Print JSON: {"tokens": [[77 ids], ...]}.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Preprocess images (bicubic resize of the shortest side, centre crop, OpenAI mean/std) into a tensor.
    Preprocess {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long = "image", required = true, num_args = 1..)]
        images: Vec<PathBuf>,
        /// Output safetensors file with tensor `pixels` [N,3,H,W].
        #[arg(long)]
        out: PathBuf,
    },
    /// Image or text features (unnormalised projections, as open_clip's encode_image/encode_text).
    Embed {
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        input: ImageInput,
        /// Texts to embed instead of images.
        #[arg(long, num_args = 1.., conflicts_with_all = ["images", "pixels"])]
        text: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Record the activations of one or more layers (taps) to a safetensors file.
    Activations {
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        input: ImageInput,
        /// Texts, for text-tower layers.
        #[arg(long, num_args = 1..)]
        text: Vec<String>,
        /// Layer name, e.g. `visual.layer4.5.add`; repeat for several. See `clipneurons layers`.
        #[arg(long = "layer", required = true)]
        layers: Vec<String>,
        /// Output safetensors file; one tensor per layer, named by the layer.
        #[arg(long)]
        out: PathBuf,
    },
    /// Zero-shot classification of images over a label set.
    Classify {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long = "image", required = true, num_args = 1..)]
        images: Vec<PathBuf>,
        /// Comma-separated labels, or @FILE with one label per line.
        #[arg(long)]
        labels: String,
        /// Prompt template; `{}` is replaced by the label.
        #[arg(long, default_value = "a photo of a {}.")]
        template: String,
        #[arg(long)]
        json: bool,
    },
    /// List every layer (tap) of a model with its shape for one input.
    Layers {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        json: bool,
    },
    /// Show the architecture inferred from the checkpoint.
    Info {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long)]
        json: bool,
    },
    /// Zero-shot neuron search: the last block's neurons whose embedding direction (through the attention pool's
    /// value and output projections) best matches each text.
    Search {
        #[command(flatten)]
        model: ModelArg,
        /// Texts to search for (each one ranked separately).
        #[arg(required = true)]
        text: Vec<String>,
        /// The last block's output (default) or its `.add` tap; both have the same channels.
        #[arg(long)]
        layer: Option<String>,
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// Prompt template, `{}` standing for the text.
        #[arg(long, default_value = "{}")]
        template: String,
        /// Check each hit on the model: raise the neuron on a blank image and report the text's logit before/after.
        #[arg(long)]
        verify: bool,
        #[arg(long)]
        json: bool,
    },
    /// Stream images through the model once and keep, for every neuron of a layer, its statistics and top/bottom
    /// images (a resumable run directory with Parquet tables).
    Mine(MineArgs),
    /// Combine complete mining runs over different inputs into one run.
    Merge {
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// The dataset examples of one neuron from a mining run.
    Examples {
        run: PathBuf,
        #[arg(long)]
        neuron: usize,
        /// The most negative responses instead of the top ones.
        #[arg(long)]
        bottom: bool,
        /// Also write a contact sheet (PNG): the images as the model saw them, the maximum's cell outlined in red.
        #[arg(long)]
        sheet: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Rendered-word probes: each vocabulary word written on white at 3 sizes x 3 positions; a neuron's response
    /// to a word is the mean over sizes of the max over positions of its spatial maximum. Ranks the words that
    /// drive a neuron, or (--all) stores the top words of every neuron of the layer.
    Words {
        #[command(flatten)]
        model: ModelArg,
        /// Layer (default: the model's neuron layer, as `mine`).
        #[arg(long)]
        layer: Option<String>,
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        neuron: Option<usize>,
        /// Every neuron: writes words.parquet and word_responses.safetensors into --out (e.g. a mining run).
        #[arg(long, requires = "out")]
        all: bool,
        #[arg(long)]
        out: Option<PathBuf>,
        /// One word per line. Default: the built-in world's words plus the 10,000 most common single-token words
        /// of CLIP's BPE vocabulary.
        #[arg(long)]
        vocab: Option<PathBuf>,
        /// Words listed (per neuron with --all).
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// Words rendered per batch (9 images each).
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// One neuron's response to labelled image sets (e.g. a concept's photos, drawings, icons and words) and the
    /// article's conditional-probability plot.
    Profile(ProfileArgs),
    /// Automatic labels for every neuron of a mining run: zero-shot PMI of its top images with each concept plus
    /// its response to the concept's name written out; on world runs, scored against the planted concepts.
    Label {
        run: PathBuf,
        #[command(flatten)]
        model: ModelArg,
        /// Candidate concepts, one per line (default: the built-in world's 147 concept names).
        #[arg(long)]
        concepts: Option<PathBuf>,
        /// Zero-shot prompt, `{}` standing for the concept.
        #[arg(long, default_value = "{}")]
        template: String,
        /// Top images per neuron used (at most the run's top-k).
        #[arg(long, default_value_t = 16)]
        top_k: usize,
        /// Neurons listed (most multimodal first).
        #[arg(long, default_value_t = 20)]
        rows: usize,
        #[arg(long)]
        json: bool,
    },
    /// The main job on the built-in model: mine the world's test split, label every neuron and list the most
    /// multimodal neurons with their facets and words (resumes a run in --out).
    Report {
        #[command(flatten)]
        model: ModelArg,
        #[arg(long, default_value = "clipneurons-report")]
        out: PathBuf,
        /// Test-split images to mine.
        #[arg(long, default_value_t = 3000)]
        n: u64,
        #[arg(long, default_value_t = 20)]
        rows: usize,
    },
    /// Feature visualisation: gradient ascent on the input image to maximise a neuron (Lucid's Fourier
    /// parametrisation, colour decorrelation and transforms, or OpenAI's CLIP recipe). Writes OUT.png and OUT.json.
    Viz(VizArgs),
    /// Text feature visualisation: hill climbing over word sequences (change, add, remove a word) for the text
    /// whose zero-shot score for the neuron (the search's bilinear weights) is highest, minus a language-model
    /// penalty (a Zipf unigram prior over the vocabulary's frequency order).
    Textviz(TextVizArgs),
    /// Train the built-in CLIP on the synthetic world (contrastive, from scratch).
    Train(TrainArgs),
    /// Typographic attack: write a word on every image (eight times in a grid, or on one paper label) and count
    /// how often the classifier's top class becomes the word's class; the neurons the word drives.
    Attack(AttackArgs),
    /// The article's Stroop test: 8 words x 8 inks, zero-shot over the ink colours: does the model name the word
    /// or the ink?
    Stroop {
        #[command(flatten)]
        model: ModelArg,
        /// Zero-shot prompt, `{}` standing for the colour (the article's by default).
        #[arg(long, default_value = clipneurons_attack::stroop::TEMPLATE)]
        template: String,
        /// Folder for stroop.json, stroop.md and the 64 stimuli as one sheet (stimuli.png).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Facet probes for faceted feature visualisation (`viz --facet`).
    Facets {
        #[command(subcommand)]
        command: FacetsCommand,
    },
    /// Linear probes on the image embedding (the article's second classifier).
    Probe {
        #[command(subcommand)]
        command: ProbeCommand,
    },
    /// The built-in synthetic world.
    World {
        #[command(subcommand)]
        command: WorldCommand,
    },
}

#[derive(Subcommand)]
pub enum WorldCommand {
    /// Write N samples of a split as PNGs plus `captions.jsonl` (deterministic from the seed).
    Sample {
        /// train, val, test or attack.
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 64)]
        n: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
        /// Image side in pixels.
        #[arg(long, default_value_t = 96)]
        size: u32,
    },
    /// Score a model on the world's test and attack splits: zero-shot top-1 per facet and family, held-out font
    /// and drawing style, typographic-attack rate, and the share of multimodal last-layer neurons.
    Eval {
        #[command(flatten)]
        model: ModelArg,
        /// Test images per concept and facet.
        #[arg(long, default_value_t = 6)]
        per_concept: usize,
        /// Attack-split images.
        #[arg(long, default_value_t = 600)]
        attack_images: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Zero-shot prompt, `{}` standing for the concept name.
        #[arg(long, default_value = "{}")]
        template: String,
        /// Print the full report (with every concept's neuron) as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the JSON report to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `clipneurons train`. Unset flags take the recipe's defaults on a fresh run and the checkpoint's values on
/// `--resume`; a flag that contradicts the checkpoint is an error rather than a silent change of recipe.
#[derive(Args, Clone)]
pub struct TrainArgs {
    /// Final weights (open_clip safetensors); checkpoints go to `OUT.ckpt/`.
    #[arg(long)]
    pub out: PathBuf,
    /// Optimisation steps [default: 6800, the built-in model's recipe].
    #[arg(long)]
    pub steps: Option<u64>,
    /// Images (and captions) per step [default: 128].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Seed of the initialisation and the data stream [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Image side in pixels, a multiple of 32 [default: 96].
    #[arg(long)]
    pub size: Option<usize>,
    /// ResNet width (the last stage has 32x as many channels) [default: 16].
    #[arg(long)]
    pub width: Option<usize>,
    /// Peak learning rate [default: 0.002].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Warm-up steps [default: 500, at most 10% of --steps].
    #[arg(long)]
    pub warmup: Option<u64>,
    /// Start from these weights (open_clip safetensors of the same shape, e.g. an earlier run's output) instead of
    /// a random initialisation; optimizer and schedule start afresh. Pair it with a new --seed for new data.
    #[arg(long, conflicts_with = "resume")]
    pub init: Option<PathBuf>,
    /// Continue the run in `OUT.ckpt/` exactly where it stopped.
    #[arg(long)]
    pub resume: bool,
    /// Store the final weights in f16 (half the size; how the built-in model is shipped).
    #[arg(long)]
    pub half: bool,
    /// Only write `--out` from the checkpoint in `OUT.ckpt/` (e.g. of an interrupted run), without training.
    #[arg(long, requires = "resume")]
    pub export_only: bool,
    /// Write a checkpoint at least every this many steps.
    #[arg(long, default_value_t = 200)]
    pub checkpoint_steps: u64,
    /// ... and at least every this many minutes.
    #[arg(long, default_value_t = 3.0)]
    pub checkpoint_minutes: f64,
    /// No progress bar; print a log line every this many steps instead (0: never).
    #[arg(long)]
    pub log_every: Option<u64>,
}

/// `clipneurons mine`.
#[derive(Args, Clone)]
pub struct MineArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Layer (tap) to mine [default: the last block's pre-ReLU sum, `visual.layer4.N.add`, for ResNets].
    #[arg(long)]
    pub layer: Option<String>,
    /// Run directory (created; holds manifest.json, state.json and the tables).
    #[arg(long)]
    pub out: PathBuf,
    /// Image files, folders (searched recursively) or glob patterns.
    #[arg(long = "images", num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// WebDataset tar shards as img2dataset writes them (`KEY.jpg` + `KEY.txt`/`KEY.json`), or glob patterns.
    #[arg(long, num_args = 1..)]
    pub shards: Vec<PathBuf>,
    /// Mine the built-in world's split (train, val, test or attack) instead of files.
    #[arg(long)]
    pub world: Option<String>,
    /// World images to mine.
    #[arg(long, default_value_t = 1000)]
    pub n: u64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Top and bottom images kept per neuron.
    #[arg(long, default_value_t = 32)]
    pub top_k: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Continue an interrupted run in --out.
    #[arg(long)]
    pub resume: bool,
    /// Save the resumable state at least this often.
    #[arg(long, default_value_t = 2.0)]
    pub checkpoint_minutes: f64,
}

/// Where the images of an attack or a probe come from.
#[derive(Args, Clone)]
pub struct LabelledImages {
    /// Image files, folders (recursive) or globs; an image's class is the name of its folder (`DIR/<class>/x.jpg`).
    #[arg(long, num_args = 1.., conflicts_with = "world")]
    pub images: Vec<PathBuf>,
    /// Photos of the built-in world's objects, animals and plants from this split (train, val or test).
    #[arg(long)]
    pub world: Option<String>,
    /// World images per concept.
    #[arg(long, default_value_t = 4)]
    pub per_concept: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Class labels: `a,b,c`, a file with one per line, or `@FILE`. Default with `--world`: every concept name.
    #[arg(long)]
    pub labels: Option<String>,
}

#[derive(Args)]
pub struct AttackArgs {
    #[command(flatten)]
    pub model: ModelArg,
    #[command(flatten)]
    pub input: LabelledImages,
    /// Attack words (each run separately). A word that is not a label is added to the zero-shot label set.
    #[arg(long, num_args = 1.., required_unless_present = "search")]
    pub text: Vec<String>,
    /// grid8: the word eight times at fixed positions in one font (the article's automated test); label: one
    /// hand-written-style paper label on the object (its "in the wild" test).
    #[arg(long, default_value = "grid8")]
    pub protocol: String,
    /// `zero-shot`, or `probe:FILE` for a linear probe written by `clipneurons probe train`.
    #[arg(long, default_value = "zero-shot")]
    pub classifier: String,
    /// Zero-shot prompt, `{}` standing for the label (the article's completion "a photo of a ___").
    #[arg(long, default_value = "a photo of a {}")]
    pub template: String,
    /// Try every label by itself as the attack text and list the most effective (the article's brute-force search).
    #[arg(long)]
    pub search: bool,
    /// Rows of `--search`.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Layer whose neurons are compared clean vs attacked (default: the model's neuron layer, as `mine`).
    #[arg(long)]
    pub layer: Option<String>,
    /// Neurons reported per attack word.
    #[arg(long, default_value_t = 5)]
    pub neurons: usize,
    /// Before/after image pairs written (and top-5 lists printed) per word; the JSON of the label protocol has
    /// every image's top-5 before and after.
    #[arg(long, default_value_t = 4)]
    pub examples: usize,
    /// Folder for report.json, report.md and examples/WORD/N-{before,after}.png.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum ProbeCommand {
    /// Train a softmax-regression probe on the L2-normalised image embedding of labelled images.
    Train {
        #[command(flatten)]
        model: ModelArg,
        #[command(flatten)]
        input: LabelledImages,
        /// Output safetensors file (weights, standardisation, labels in the header).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 300)]
        steps: usize,
        #[arg(long, default_value_t = 64)]
        batch: usize,
    },
}

#[derive(Subcommand)]
pub enum FacetsCommand {
    /// Train one linear probe per facet (facet images vs negatives) on lower-layer activations (spatial means),
    /// for `viz --facet`. With --world: the built-in world's photo, drawing, icon and text facets, each against
    /// the other three, with held-out accuracy on the test split.
    Train(FacetsTrainArgs),
}

#[derive(Args)]
pub struct FacetsTrainArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// A facet and its images, NAME=PATH (a folder searched recursively, a file or a glob); repeat.
    #[arg(long, num_args = 1.., required_unless_present = "world", conflicts_with = "world")]
    pub facet: Vec<String>,
    /// Images of no facet in particular (the probes' negatives).
    #[arg(long, required_unless_present = "world", conflicts_with = "world")]
    pub negatives: Vec<PathBuf>,
    /// Train on the built-in world's facets instead of folders.
    #[arg(long)]
    pub world: bool,
    /// World images per facet for training (as many again, halved, for the held-out test).
    #[arg(long, default_value_t = 600)]
    pub n: usize,
    /// Layers (comma-separated) [default: every other block of the third stage, as the article].
    #[arg(long, value_delimiter = ',')]
    pub layers: Vec<String>,
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Layer (default: the model's neuron layer, as `mine`).
    #[arg(long)]
    pub layer: Option<String>,
    #[arg(long)]
    pub neuron: usize,
    /// Labelled sets, LABEL=PATH (a folder searched recursively, a file or a glob); repeat or list several.
    #[arg(long, num_args = 1..)]
    pub sets: Vec<String>,
    /// A CSV (`path,label` rows) or Parquet file (`path`, `label` columns) of labelled images.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Built-in world: the concept's test-split photos, drawings, icons and words, and other concepts' images.
    #[arg(long)]
    pub world: Option<String>,
    /// World images per facet (and four times as many of other concepts).
    #[arg(long, default_value_t = 24)]
    pub per_set: usize,
    /// Activation buckets of the conditional-probability plot.
    #[arg(long, default_value_t = 20)]
    pub buckets: usize,
    /// How an image's activation map becomes one number: max (as `mine`) or mean.
    #[arg(long, default_value = "max")]
    pub pool: String,
    /// Write the conditional-probability plot as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct VizArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// Layer (default: the model's neuron layer, as `mine`).
    #[arg(long)]
    pub layer: Option<String>,
    #[arg(long)]
    pub neuron: usize,
    /// channel (spatial mean), neuron (the centre position), relu-channel (the article's: mean of the ReLU'd
    /// channel) or direction (the zero-shot search direction of --text over all channels; --neuron is then only
    /// reported) [default: channel for --recipe lucid, relu-channel for clip].
    #[arg(long)]
    pub objective: Option<String>,
    /// The text whose zero-shot search direction `--objective direction` follows (e.g. "yellow").
    #[arg(long)]
    pub text: Option<String>,
    /// lucid (Lucid's standard transforms, Adam 0.05, batch 1) or clip (OpenAI's CLIP-featurevis: its
    /// scale/rotation lists, Adam 0.02, L2 weight 10, batch 9); --lr, --l2 and --batch override. Lucid runs 512
    /// steps and OpenAI 4096; the default here is 128 because a CPU step costs ~20 ms at 96 px and ~1 s at 288 px.
    #[arg(long, default_value = "lucid")]
    pub recipe: String,
    /// fourier (Lucid's default) or pixels.
    #[arg(long, default_value = "fourier")]
    pub param: String,
    /// Side of the optimised image in pixels; transforms end with a crop or pad to the model's input [default:
    /// the model's input side].
    #[arg(long)]
    pub size: Option<usize>,
    /// Optimisation steps.
    #[arg(long, default_value_t = 128)]
    pub steps: usize,
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight of the pull towards grey.
    #[arg(long)]
    pub l2: Option<f64>,
    #[arg(long)]
    pub batch: Option<usize>,
    /// Weight of Lucid's diversity term (Gram-matrix similarity across the batch, subtracted); try 100 with
    /// --batch 4 or more.
    #[arg(long, default_value_t = 0.0)]
    pub diversity: f64,
    /// Weight of the article's diversity variant: Gram diversity on the attribution g(x) ⊙ ∇f(g(x)) at
    /// --diversity-layer across the batch; try 100 with --batch 4 or more.
    #[arg(long, default_value_t = 0.0)]
    pub attribution_diversity: f64,
    /// Layer of the attribution diversity [default: the first facet layer, the third stage's first block].
    #[arg(long)]
    pub diversity_layer: Option<String>,
    /// Steps with Lucid's redirected ReLU gradient at the start (0: off) [default: 16 for lucid, as Lucid; every
    /// step for clip, whose ReLU'd objective on a pre-ReLU tap is otherwise stuck at 0 while the unit is off —
    /// the redirected gradient only acts on images whose ordinary gradient is zero].
    #[arg(long)]
    pub redirect_steps: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Faceted feature visualisation: add the article's term wᵀ(g(x) ⊙ ∇f(g(x))) for this facet's probes.
    #[arg(long)]
    pub facet: Option<String>,
    /// Facet strength for the first..last image of the batch (linearly spaced) [default: 0.1..5.0, as OpenAI's
    /// example script].
    #[arg(long, default_value = "0.1..5.0")]
    pub facet_strength: String,
    /// Facet probes from `clipneurons facets train` [default: the built-in model's shipped probes].
    #[arg(long)]
    pub facet_probes: Option<PathBuf>,
    /// Use the held-constant gradient in the facet term as it is, instead of through a ReLU (OpenAI's code).
    #[arg(long)]
    pub facet_plain_gradient: bool,
    /// Optimise the image without the recipe's random transforms.
    #[arg(long)]
    pub no_transforms: bool,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct TextVizArgs {
    #[command(flatten)]
    pub model: ModelArg,
    /// The layer zero-shot search ranks (default and only choice: the last block's output, or its `.add` tap).
    #[arg(long)]
    pub layer: Option<String>,
    #[arg(long)]
    pub neuron: usize,
    /// Hill-climbing steps per restart.
    #[arg(long, default_value_t = 40)]
    pub steps: usize,
    /// Most words in a text.
    #[arg(long, default_value_t = 6)]
    pub length: usize,
    /// Candidate edits scored per step (one batch through the text tower).
    #[arg(long, default_value_t = 64)]
    pub proposals: usize,
    /// Independent climbs from random starts.
    #[arg(long, default_value_t = 4)]
    pub restarts: usize,
    /// Weight of the language-model penalty (the article's Microscope runs used 0.0025).
    #[arg(long, default_value_t = 0.0025)]
    pub lm_penalty: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Distinct texts reported.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Words to build texts from, one per line, most frequent first (the order sets the penalty). Default: CLIP
    /// BPE's 10,000 most common single-token words, then the built-in world's other words.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}
