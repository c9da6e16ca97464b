"""Home: what clviz shows, what "the notes" are (every page refers to them), and which page asks what."""
import streamlit as st

from clviz import experiments, report

st.title("Catastrophic forgetting, live")
st.markdown(
    "A network learns classes in tasks, two digits at a time, and never sees the old ones again. Its "
    "accuracy on the old classes falls to zero within a task: **catastrophic forgetting**. Each page "
    "trains small networks in front of you and shows the forgetting as it happens. Pick a page on the "
    "left, set the knobs, press **Train**. Every setting lives in the address bar: paste it into your "
    "slides and the link opens the same view.")

st.subheader("The notes")
ref, cifar = report.REFERENCE["mnist"], report.REFERENCE["cifar100"]
st.markdown(
    "Every page sets its figures beside **the notes**: the research notes this app reproduces, a study "
    "of forgetting in class-incremental learning with an MLP on **Split MNIST** (5 tasks of 2 digits) and "
    "a small CNN on **Split CIFAR-100** (10 tasks of 10 classes). Their findings, each one page here:")
st.markdown(
    f"- Trained on all tasks at once the MLP reaches **{ref['joint_acc']:.2f}**; trained task after task, "
    f"**{ref['sequential_acc']:.2f}**: it keeps only the last task.\n"
    f"- Yet a linear probe on its frozen features still separates all classes (**{ref['probe_final']:.2f}**): "
    "the forgetting is shallow (*Linear Probe*, *Where forgetting lives*).\n"
    f"- Without BatchNorm the latent layer's sparsity jumps after task 2 ({ref['sparsity_no_bn'][0]:.2f} -> "
    f"{ref['sparsity_no_bn'][1]:.2f}); with it, it stays flat (*Sparsity*).\n"
    "- A loss that only raises the correct logit forgets less, and optimizers differ in how much a relearned "
    "task is saved (*Loss Variants*, *Optimizer Savings*).\n"
    f"- On CIFAR-100: joint {cifar['joint_acc']:.2f}, sequential {cifar['sequential_acc']:.2f}, probe "
    f"{cifar['probe_final']:.2f} (*CIFAR*).")
st.info(
    "**Which figures compare.** The notes measured MNIST (60,000 images) and CIFAR-100. The default "
    "dataset here is scikit-learn's bundled **digits** (1,797 8x8 images, trains in seconds, works offline); "
    "**Fashion-MNIST** is MNIST's size and format but clothes, a harder set. On both, the pages print the "
    "notes' MNIST figures as a reference for the shape of the result (a collapse to about 0.2, a probe far "
    "above it), not as numbers to match. Choose **mnist** in the sidebar (with its files on disk) to "
    "compare figure for figure.")

st.subheader("The pages")
ASKS = {  # each page's question, by experiment name (a new experiment without one still gets its row)
    "sparsity": "does the latent layer go sparse, and does BatchNorm stop it?",
    "probe": "do the frozen features still know the old classes?",
    "losses": "does a different loss forget less?",
    "savings": "is a forgotten task relearned faster, and does the optimizer's state matter?",
    "cifar": "the same on a harder set: Split CIFAR-100",
    "boundaries": "forgetting you can see: decision regions taken over by the new classes",
    "remedies": "what the standard remedies (replay, EWC, SI, LwF, ...) change",
    "depth": "is the loss in the head or the features, in which layer, and when?"}
st.dataframe([{"page": e.title, "asks": ASKS.get(n, "")} for n, e in experiments.REGISTRY.items()]
             + [{"page": "Compare", "asks": "variants x seeds: is a difference more than noise?"}],
             hide_index=True, width="stretch")
