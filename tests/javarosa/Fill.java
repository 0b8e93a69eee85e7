// Fill an XForm as ODK Collect's engine would: JavaRosa (the copy bundled in pyxform's ODK_Validate.jar) loads the
// form with its media files, answers each question it reaches from a script, and writes the submission XML.
//
// Usage: java -cp ODK_Validate.jar:BUILD Fill MODE FORM.xml MEDIA_DIR ANSWERS.tsv OUT.xml
//   MODE     load (load the form and report its secondary instances) or fill
//   ANSWERS  lines "name<TAB>value"; a name answered in several repeat instances takes its values in order;
//            "@repeat<TAB>yes|no" answers Collect's "add another <repeat>?" prompt (no when the script is silent);
//            an empty value leaves the question blank.
// Output on stdout, one line each: "PROMPT path", "PLACEHOLDER instance-id", and on failure one of
// "CONSTRAINT path<TAB>message", "REQUIRED path", "NOCHOICE path<TAB>value<TAB>choices", "INVALID path",
// "UNUSED name<TAB>count" with a non-zero exit status.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.util.*;

import org.javarosa.core.model.Constants;
import org.javarosa.core.model.FormDef;
import org.javarosa.core.model.FormIndex;
import org.javarosa.core.model.SelectChoice;
import org.javarosa.core.model.ValidateOutcome;
import org.javarosa.core.model.data.*;
import org.javarosa.core.model.data.helper.Selection;
import org.javarosa.core.model.instance.DataInstance;
import org.javarosa.core.model.instance.ExternalDataInstance;
import org.javarosa.core.model.instance.InstanceInitializationFactory;
import org.javarosa.core.reference.PrefixedRootFactory;
import org.javarosa.core.reference.Reference;
import org.javarosa.core.reference.ReferenceManager;
import org.javarosa.core.services.PropertyManager;
import org.javarosa.core.services.locale.Localizer;
import org.javarosa.form.api.FormEntryController;
import org.javarosa.form.api.FormEntryModel;
import org.javarosa.form.api.FormEntryPrompt;
import org.javarosa.model.xform.XFormSerializingVisitor;
import org.javarosa.model.xform.XFormsModule;
import org.javarosa.xform.util.XFormUtils;
import org.opendatakit.validate.StubPropertyManager;

public final class Fill {
    private static final PrintStream OUT = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);

    /** jr://file/NAME and jr://file-csv/NAME resolve to MEDIA_DIR/NAME, as Collect resolves them to the form's media folder. */
    static final class MediaFolder extends PrefixedRootFactory {
        private final Path dir;
        MediaFolder(Path dir) { super(new String[] {"file-csv/", "file/"}); this.dir = dir; }
        @Override protected Reference factory(String terminal, String uri) { return new FileRef(dir.resolve(terminal), uri); }
    }

    static final class FileRef implements Reference {
        private final Path path; private final String uri;
        FileRef(Path path, String uri) { this.path = path; this.uri = uri; }
        public boolean doesBinaryExist() { return Files.exists(path); }
        public InputStream getStream() throws IOException { return Files.newInputStream(path); }
        public String getURI() { return uri; }
        public String getLocalURI() { return path.toString(); }
        public boolean isReadOnly() { return true; }
        public OutputStream getOutputStream() throws IOException { throw new IOException("read-only"); }
        public void remove() throws IOException { throw new IOException("read-only"); }
        public Reference[] probeAlternativeReferences() { return new Reference[0]; }
    }

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        new XFormsModule().registerModule();
        PropertyManager.setPropertyManager(new StubPropertyManager());
        ReferenceManager.instance().addReferenceFactory(new MediaFolder(Paths.get(args[2])));
        FormDef form;
        try (InputStream in = Files.newInputStream(Paths.get(args[1]))) {
            form = XFormUtils.getFormFromInputStream(in);
        }
        form.initialize(true, new InstanceInitializationFactory());
        boolean placeholder = false;
        for (Enumeration<DataInstance> e = form.getNonMainInstances(); e.hasMoreElements(); ) {
            DataInstance instance = e.nextElement();
            // JavaRosa puts a placeholder in place of a missing or empty CSV; Collect then refuses to open the form
            if (instance instanceof ExternalDataInstance && ((ExternalDataInstance) instance).isUsingPlaceholder()) {
                OUT.println("PLACEHOLDER " + instance.getInstanceId());
                placeholder = true;
            }
        }
        if (placeholder) System.exit(7);
        String language = args.length > 5 ? args[5] : "";
        if (!language.isEmpty() && !hasEveryText(form, language)) System.exit(9);
        if (mode.equals("load")) return;
        System.exit(fill(form, readAnswers(Paths.get(args[3])), Paths.get(args[4]), language));
    }

    /** The form has this language, and a text in it for every text id of the default language. */
    static boolean hasEveryText(FormDef form, String language) {
        Localizer localizer = form.getLocalizer();
        if (localizer == null || !localizer.hasLocale(language)) {
            OUT.println("NOLANGUAGE " + language);
            return false;
        }
        int missing = 0;
        for (String id : localizer.getLocaleData(localizer.getDefaultLocale()).keySet()) {
            String text = localizer.getRawText(language, id);
            if (text == null || text.trim().isEmpty()) {
                OUT.println("MISSING " + language + "\t" + id);
                missing++;
            }
        }
        return missing == 0;
    }

    static Map<String, Deque<String>> readAnswers(Path file) throws IOException {
        Map<String, Deque<String>> answers = new LinkedHashMap<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (line.isEmpty()) continue;
            int tab = line.indexOf('\t');
            String name = tab < 0 ? line : line.substring(0, tab);
            String value = tab < 0 ? "" : line.substring(tab + 1);
            answers.computeIfAbsent(name, k -> new ArrayDeque<>()).add(value);
        }
        return answers;
    }

    static int fill(FormDef form, Map<String, Deque<String>> answers, Path out, String language) throws IOException {
        FormEntryModel model = new FormEntryModel(form);
        FormEntryController entry = new FormEntryController(model);
        if (!language.isEmpty()) entry.setLanguage(language);   // as Collect does when the enumerator picks one
        for (int event = entry.stepToNextEvent(); event != FormEntryController.EVENT_END_OF_FORM;
             event = entry.stepToNextEvent()) {
            FormIndex index = model.getFormIndex();
            String name = index.getReference().getNameLast();
            if (event == FormEntryController.EVENT_PROMPT_NEW_REPEAT) {
                if ("yes".equals(take(answers, "@" + name))) entry.newRepeat();
            } else if (event == FormEntryController.EVENT_QUESTION) {
                int status = answer(entry, model.getQuestionPrompt(), answers);
                if (status != 0) return status;
            }
        }
        entry.finalizeFormEntry();
        ValidateOutcome invalid = form.validate(true);
        if (invalid != null) {
            OUT.println("INVALID " + invalid.failedPrompt.getReference() + "\t" + invalid.outcome);
            return 6;
        }
        int unused = 0;
        for (Map.Entry<String, Deque<String>> left : answers.entrySet()) {
            if (!left.getValue().isEmpty()) {
                OUT.println("UNUSED " + left.getKey() + "\t" + left.getValue().size());
                unused++;
            }
        }
        Files.write(out, new XFormSerializingVisitor().serializeInstance(form.getInstance()));
        return unused == 0 ? 0 : 8;
    }

    static String take(Map<String, Deque<String>> answers, String name) {
        Deque<String> queue = answers.get(name);
        return queue == null ? null : queue.poll();
    }

    /** Answer one question from the script; 0 when Collect would let the enumerator go on. */
    static int answer(FormEntryController entry, FormEntryPrompt prompt, Map<String, Deque<String>> answers) {
        FormIndex index = prompt.getIndex();
        String path = index.getReference().toString(true);
        OUT.println("PROMPT " + path);
        String shown = prompt.getQuestionText();
        OUT.println("TEXT " + path + "\t" + (shown == null ? "" : shown.replace('\n', ' ').replace('\t', ' ')));
        if (prompt.isReadOnly()) return 0;   // notes and read-only calculations are shown, not answered
        String value = take(answers, index.getReference().getNameLast());
        if (value == null) {
            if (prompt.isRequired() && prompt.getAnswerValue() == null) {
                OUT.println("REQUIRED " + path);
                return 4;
            }
            return 0;
        }
        IAnswerData data;
        try {
            data = value.isEmpty() ? null : toAnswer(prompt, value);
        } catch (NoSuchElementException e) {
            List<String> choices = new ArrayList<>();
            for (SelectChoice choice : offered(prompt)) choices.add(choice.getValue());
            OUT.println("NOCHOICE " + path + "\t" + e.getMessage() + "\t" + String.join(" ", choices));
            return 5;
        }
        int result = entry.answerQuestion(index, data, true);
        if (result == FormEntryController.ANSWER_CONSTRAINT_VIOLATED) {
            String message = prompt.getConstraintText(data);
            OUT.println("CONSTRAINT " + path + "\t" + (message == null ? "" : message.replace('\n', ' ')));
            return 3;
        }
        if (result == FormEntryController.ANSWER_REQUIRED_BUT_EMPTY) {
            OUT.println("REQUIRED " + path);
            return 4;
        }
        return 0;
    }

    static IAnswerData toAnswer(FormEntryPrompt prompt, String value) {
        int control = prompt.getControlType();
        if (control == Constants.CONTROL_SELECT_ONE) return new SelectOneData(choose(prompt, value));
        if (control == Constants.CONTROL_SELECT_MULTI) {
            List<Selection> chosen = new ArrayList<>();
            for (String one : value.trim().split("\\s+")) chosen.add(choose(prompt, one));
            return new SelectMultiData(chosen);
        }
        return AnswerDataFactory.template(control, prompt.getDataType()).cast(new UncastData(value));
    }

    static List<SelectChoice> offered(FormEntryPrompt prompt) {
        List<SelectChoice> choices = prompt.getSelectChoices();
        return choices == null ? List.of() : choices;
    }

    /** The choice the enumerator would tap: it must be one the form offers now (choice filters applied). */
    static Selection choose(FormEntryPrompt prompt, String value) {
        for (SelectChoice choice : offered(prompt)) {
            if (choice.getValue().equals(value)) return choice.selection();
        }
        throw new NoSuchElementException(value);
    }
}
